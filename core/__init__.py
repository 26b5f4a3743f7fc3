"""Plain types, configuration and errors shared by every stage (imports nothing from the stages)."""
