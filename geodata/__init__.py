"""The block-data base (块数据): schema, migrations, queries, validated writes and the synthetic street."""
