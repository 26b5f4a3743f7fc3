"""Reading a snapshot upload in memory, within the size limit, from a raw JPEG/PNG body or a
multipart form (field `image`). Nothing is spooled to disk: photos are never stored, not even in a
temporary file, which is why Starlette's own form parser (it spools files) is not used."""
from __future__ import annotations

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from credentials.face_pipeline import BadImage


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused with BadImage(too_large) as soon as it passes ``limit`` bytes
    (also without a Content-Length, e.g. chunked uploads)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise BadImage(f"the upload is {declared} bytes; the limit is {limit}", record="too_large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + 64 * 1024:  # room for multipart headers
            raise BadImage(f"the upload is larger than {limit} bytes", record="too_large")
    return bytes(body)


def image_from_multipart(body: bytes, content_type: str) -> bytes:
    """The bytes of the form field `image` (or the first part when none is named so)."""
    _ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadImage("multipart upload without a boundary", record="undecodable")
    parts: list[tuple[bytes, bytearray]] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}
    disposition = {"value": b""}

    def on_part_begin() -> None:
        parts.append((b"", bytearray()))
        disposition["value"] = b""

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            disposition["value"] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_headers_finished() -> None:
        _kind, opts = parse_options_header(disposition["value"])
        parts[-1] = (opts.get(b"name", b""), parts[-1][1])

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(boundary, callbacks={
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # noqa: BLE001 - any parser complaint is the sender's malformed form
        raise BadImage(f"malformed multipart form ({exc.__class__.__name__})", record="undecodable") from None
    for name, data in parts:
        if name == b"image":
            return bytes(data)
    if parts:
        return bytes(parts[0][1])
    raise BadImage("the multipart form holds no image part (send the field `image`)", record="undecodable")
