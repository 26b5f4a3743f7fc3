"""Running GridPulse for real: `gridpulse serve` (every long-running part, restarted on failure, stopped
cleanly), the scheduled jobs (`gridpulse schedule`), backups that restore (`gridpulse backup` /
`gridpulse restore`) and the gunicorn configuration of the app. Sits above every production stage (it
starts them all), below app.py and cli.py; nothing imports it but the CLI. docs/DEPLOY.md."""
