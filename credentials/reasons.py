"""Every reason a gate can give, as one enumeration.

A deny always carries one of these codes: the gate's display turns it into words, the guard knows
what to do next (ask for the QR code, call the owner, register by hand), and analytics can count
them. The values are the strings on the stream (`reason` field) and in the API, so they never change
meaning; new ones are only added.
"""
from __future__ import annotations

import enum


class Reason(str, enum.Enum):
    # QR codes (verified offline with the platform's public key)
    qr_malformed = "qr_malformed"            # not a GridPulse code, bad base64, wrong length or version
    qr_unknown_key = "qr_unknown_key"        # signed with a key this bridge does not hold (rotated out?)
    qr_bad_signature = "qr_bad_signature"    # forged or altered
    qr_not_yet_valid = "qr_not_yet_valid"
    qr_expired = "qr_expired"
    qr_replayed = "qr_replayed"              # a single-use resident code shown a second time
    qr_other_compound = "qr_other_compound"  # a code or pass bound to another compound
    # visitor passes
    pass_unknown = "pass_unknown"
    pass_revoked = "pass_revoked"
    pass_outside_validity = "pass_outside_validity"
    pass_used_up = "pass_used_up"
    # people
    no_access = "no_access"                  # known, but no ownership, grant or household here
    grant_revoked = "grant_revoked"          # their grant for this compound was revoked by the owner
    grant_expired = "grant_expired"          # their grant for this compound ended (or has not begun)
    blacklisted = "blacklisted"              # their access rests on a rental barred for safety hazards
    # faces (a person denied by the face can always use QR, card or the guard)
    no_face = "no_face"
    face_too_small = "face_too_small"
    face_blurred = "face_blurred"
    face_turned = "face_turned"
    ambiguous_face = "ambiguous_face"        # over the threshold for two people, without the margin
    not_enrolled_here = "not_enrolled_here"  # allowed here, but found only in the population library
    unknown_face = "unknown_face"            # kept as a pseudonymous stranger template, never a photo

    def __str__(self) -> str:
        return self.value


FACE_QUALITY = frozenset({Reason.no_face, Reason.face_too_small, Reason.face_blurred, Reason.face_turned})
