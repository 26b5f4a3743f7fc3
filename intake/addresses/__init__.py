"""The unified address base (统一地址库): parse Chinese addresses into parts, match them to standard ones."""
