"""
A chat room: everyone who joins sees who is here, and every message is
broadcast to every member.

    twistd -n websocket --handler examples.chat.handler --static examples/chat/static

then open http://localhost:8765/ in two windows. The page (static/) speaks
JSON: it sends {"type": "join", "name": ...} first, then
{"type": "say", "text": ...}; the server sends "welcome" (to the one who
joined: their id and who is here), "joined", "left" and "message" events.
"""

import itertools
import json
from datetime import datetime, timezone

import txws

# The members of the room: connection -> (id, name).
room: dict = {}
ids = itertools.count(1)


def tell(event: str, **fields) -> None:
    txws.broadcast(room, json.dumps({"event": event, **fields}))


def parse(message):
    """The JSON object a browser sent, or None for anything else."""
    if not isinstance(message, str):
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def handler(websocket):
    me = None
    try:
        async for message in websocket:
            data = parse(message)
            if data is None:
                continue
            if me is None:
                if data.get("type") != "join":
                    continue
                name = " ".join(str(data.get("name") or "").split())[:40] or "anonymous"
                me = (next(ids), name)
                room[websocket] = me
                members = [{"id": i, "name": n} for i, n in room.values()]
                await websocket.send(
                    json.dumps({"event": "welcome", "id": me[0], "members": members})
                )
                tell("joined", id=me[0], name=name, count=len(room))
            elif data.get("type") == "say":
                text = str(data.get("text") or "").strip()[:1000]
                if text:
                    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                    tell("message", id=me[0], name=me[1], text=text, time=now)
    finally:
        if room.pop(websocket, None) is not None:
            tell("left", id=me[0], name=me[1], count=len(room))
