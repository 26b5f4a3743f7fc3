"""Reusable page parts (the deck.gl map with its stores, KPI tiles)."""
