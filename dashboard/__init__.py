"""Dash pages, components, callbacks, login, roles, jurisdiction, audit and PII masking."""
