"""The block-data base (块数据): schema, migrations, validated writes, the query layer (the one door to people's data), audit and identity masking."""
