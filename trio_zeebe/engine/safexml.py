"""Safe reading of a deployed resource's XML (BPMN or DMN): bytes -> the ElementTree root, or
the format's :class:`ResourceError` with Zeebe's ``'<resource>': <message>`` text.

The XML comes from clients, so ``defusedxml`` refuses any DOCTYPE, which rules out external
entities (XXE), entity expansion (billion laughs) and external DTDs; the input size, the nesting
depth and the number of elements are bounded while parsing, before anything is built. Nothing
but the caller's :class:`ResourceError` subclass escapes, whatever the bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException, DTDForbidden  # type: ignore[import-untyped]
from defusedxml.ElementTree import DefusedXMLParser  # type: ignore[import-untyped]

__all__ = ["MAX_DEPTH", "MAX_ELEMENTS", "MAX_SIZE", "ResourceError", "read_xml", "text_content"]

#: Largest accepted resource (Zeebe's default maximum message size is 4 MB).
MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 200
MAX_ELEMENTS = 200_000


class ResourceError(Exception):
    """A deployed resource that cannot be deployed; each format has its own subclass.

    ``message`` is Zeebe's text for the failure; ``str(error)`` is
    ``'<resource name>': <message>``, the line Zeebe puts into a deployment rejection.
    """

    def __init__(self, resource_name: str, message: str) -> None:
        super().__init__(resource_name, message)
        self.resource_name = resource_name
        self.message = message

    def __str__(self) -> str:
        return f"'{self.resource_name}': {self.message}"


class _Limit(Exception):
    pass


class _BoundedTreeBuilder(ET.TreeBuilder):
    """A TreeBuilder that stops deep or huge documents while they are being parsed."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._count = 0

    def start(self, tag: str, attrs: dict[str, str], /) -> ET.Element:
        self._depth += 1
        self._count += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"XML elements are nested deeper than {MAX_DEPTH} levels")
        if self._count > MAX_ELEMENTS:
            raise _Limit(f"XML document has more than {MAX_ELEMENTS} elements")
        return super().start(tag, attrs)

    def end(self, tag: str, /) -> ET.Element:
        self._depth -= 1
        return super().end(tag)


def read_xml(
    resource_name: str,
    data: bytes,
    *,
    kind: str,
    error: type[ResourceError],
    max_size: int = MAX_SIZE,
) -> ET.Element:
    """Parse the resource bytes into an element tree, refusing anything unsafe with ``error``;
    ``kind`` (``"BPMN"``, ``"DMN"``) names the format in the messages."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise error(resource_name, "Expected the resource content as bytes")
    data = bytes(data)
    if len(data) > max_size:
        raise error(
            resource_name,
            f"Resource of {len(data)} bytes exceeds the maximum {kind} resource size of "
            f"{max_size} bytes",
        )
    if not data.strip():
        raise error(resource_name, f"Expected a {kind} XML document, but it is empty")
    parser = DefusedXMLParser(
        target=_BoundedTreeBuilder(), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except DTDForbidden:
        raise error(
            resource_name,
            "DOCTYPE declarations are not allowed: DTDs, entity declarations and external "
            "references are refused",
        ) from None
    except DefusedXmlException as refused:
        raise error(
            resource_name, f"Refused unsafe XML construct: {type(refused).__name__}"
        ) from None
    except _Limit as limit:
        raise error(resource_name, str(limit)) from None
    except ET.ParseError as bad:
        raise error(resource_name, f"XML is not well-formed: {bad}") from None
    except (ValueError, LookupError, UnicodeError, RecursionError) as unreadable:
        # e.g. an encoding declaration naming an unknown codec
        raise error(resource_name, f"XML could not be read: {unreadable}") from None
    return root


def text_content(element: ET.Element) -> str:
    """All text inside ``element`` (like the DOM's textContent)."""
    return "".join(element.itertext())
