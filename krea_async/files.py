"""Files in and out: ``data:`` URIs for inputs, media-type sniffing, safe downloads.

- :func:`data_uri` turns a local image into a ``data:`` URI for fields such as
  ``image_urls`` (Krea's image-to-image docs example posts a
  ``data:image/jpeg;base64,...`` URI).
- :func:`media_type` sniffs the type of file bytes (the types ``POST /assets``
  accepts: JPEG, PNG, WebP, HEIC, MP4, MOV, WebM, GLB, WAV, MP3).
- :func:`download` streams a result URL to disk atomically;
  :func:`download_all` saves every result of a job (what ``result.save()`` uses).
- :func:`result_file_name` is the one rule naming saved results
  (``<job_id><ext>``, or ``<job_id>-<n><ext>`` for several), shared by
  ``result.save()``, the CLI and the batch; :func:`result_extension` gives the
  extension from a file's first bytes (never from its URL);
  :func:`safe_file_name` makes any server text a safe file name.

Result URLs come from the server (Krea's job ``result.urls``,
https://docs.krea.ai/developers/api-reference), so every byte of them is treated
as hostile: names on disk are built from safe characters only and checked to
lie inside the target directory, redirects may not lead into internal networks,
and a size cap and a total deadline bound each download.
"""

from __future__ import annotations

from ._files.download import (
    DOWNLOAD_DEADLINE,
    DOWNLOAD_MAX_BYTES,
    MAX_REDIRECTS,
    download,
    download_all,
)
from ._files.inputs import (
    DATA_URI_MAX_BYTES,
    FileInput,
    data_uri,
    media_type,
)
from ._files.inputs import file_size as file_size  # importable as before (not in __all__)
from ._files.inputs import read_file_input as read_file_input
from ._files.names import (
    MAX_FILE_NAME_CHARS,
    result_extension,
    result_file_name,
    safe_file_name,
)

__all__ = [
    "DATA_URI_MAX_BYTES",
    "DOWNLOAD_DEADLINE",
    "DOWNLOAD_MAX_BYTES",
    "MAX_FILE_NAME_CHARS",
    "MAX_REDIRECTS",
    "FileInput",
    "data_uri",
    "download",
    "download_all",
    "media_type",
    "result_extension",
    "result_file_name",
    "safe_file_name",
]
