"""The city above its districts: each district (区) runs its own PostGIS and Redis; the city's database reads
them through PostgreSQL's own federation (postgres_fdw), one foreign server and one foreign schema per district.

Attaching and detaching district servers (``servers``), running a query on every district the viewer's
jurisdiction reaches while an unreachable one degrades to a notice (``federated``), and the city-level
figures and cross-district police queries built on that (``kpis``, ``police``). It holds no data of its own:
the city's accounts and audit log are the city database's ordinary tables.
"""
