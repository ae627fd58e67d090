"""Files: inputs (data: URIs, uploads), names and atomic writes of results, downloads."""
