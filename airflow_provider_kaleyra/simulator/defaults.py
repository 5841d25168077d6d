"""The account the simulator serves when nobody says otherwise.

The first SID, key, flow and bridge are the sample values of Kaleyra's "Trigger Flow
using Outgoing Call" page, so its sample request works against a fresh simulator
unchanged. The second flow and bridge let tests pick between two valid choices.
"""

from __future__ import annotations

DEFAULT_SID = "HXIN169510844XXX"
DEFAULT_API_KEY = "Aaf0dff8cd58cf99cba958f8941d3XXX0"
DEFAULT_FLOW_ID = "SG_8b37a0d3-1c97-47ac-99a5-380969XXXXb"
DEFAULT_BRIDGE = "+13236789XXX"

SECOND_FLOW_ID = "SG_3c9e2f41-5b7a-4d2e-8f16-2a7c9d0e4b13"
SECOND_BRIDGE = "+6531651234"

DEFAULT_FLOWS: frozenset[str] = frozenset({DEFAULT_FLOW_ID, SECOND_FLOW_ID})
DEFAULT_BRIDGES: tuple[str, ...] = (DEFAULT_BRIDGE, SECOND_BRIDGE)

#: The region the connection names; ``base_url`` points it at the simulator anyway.
CONNECTION_REGION = "SG"
DEFAULT_HOST = "127.0.0.1"
