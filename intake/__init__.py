"""Intake: what comes into the block-data base from outside and goes back out.

Importers (places, tables, department lists), the unified address base (parser, tagger, matcher,
review queue), coordinate conversion (GCJ-02/BD-09) and the masked, watermarked exports. Writes go
through ``blockdata.registry``; nothing here is imported by the gate bridge or ingest.
"""
