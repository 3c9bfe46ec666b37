"""Pure parsers: tool output text in, typed records and parse problems out."""
