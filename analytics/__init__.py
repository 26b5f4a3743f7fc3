"""Rules that turn data into alerts, alerts into work orders; population dynamics; police queries."""
