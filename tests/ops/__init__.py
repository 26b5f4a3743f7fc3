

def failed_login(client, base: str, username: str = "nobody") -> int:  # noqa: ANN001 - an httpx.Client
    """A wrong password sent as the login form sends it (with its CSRF token): the status the app answers."""
    import re

    form = client.get(base + "/login")
    hidden = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form.text))
    return client.post(base + "/login", data={**hidden, "username": username, "password": "wrong", "next": "/"}).status_code
