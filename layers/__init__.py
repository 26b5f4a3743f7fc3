"""One builder per map layer: a query in, a layer spec out. No Dash here."""
