"""Resident services: the phone side (the city app calls this API) — grants, visitor passes, resident codes, self-declarations, consent."""
