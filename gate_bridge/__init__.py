"""The edge service at the compound gates: face and QR verification, access policy, event publishing."""
