"""The central consumer of gate events: PostGIS writes, rollups, live state in Redis."""
