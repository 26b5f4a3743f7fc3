"""Credentials that both the gate bridge and the resident services use: signed QR codes (Ed25519),
the face pipeline (SCRFD + ArcFace on onnxruntime) and its quality gates, reading uploaded photos,
and the reason codes a decision carries. It imports only ``core``.
"""
