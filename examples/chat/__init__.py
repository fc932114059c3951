"""
A chat room: everyone who joins sees who is here, and every message goes
to every member, through the server's groups (txws.groups).

    twistd -n websocket --handler examples.chat.handler --static examples/chat/static

then open http://localhost:8765/ in two windows. The page (static/) speaks
JSON: it sends {"type": "join", "name": ...} first, then
{"type": "say", "text": ...}; the server sends "welcome" (to the one who
joined: their id and who is here), "joined", "left" and "message" events.

Unchanged, it runs on several processes or machines sharing one Redis
(``--redis redis://HOST:PORT/0``, with ``--workers N`` or several
instances): messages, joins and leaves reach everyone; the list of who is
here in "welcome", and the count, are those connected to the same process.
"""

import json
import os
from datetime import datetime, timezone
from itertools import count

ROOM = "chat"

# This process's members: connection -> (id, name). Ids are unique across
# processes: this one's pid, and a counter.
here: dict = {}
ids = (f"{os.getpid()}-{n}" for n in count(1))


def tell(groups, event: str, **fields) -> None:
    groups.send(ROOM, json.dumps({"event": event, **fields}))


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
    groups = websocket.factory.groups
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
                here[websocket] = me
                members = [{"id": i, "name": n} for i, n in here.values()]
                await websocket.send(
                    json.dumps({"event": "welcome", "id": me[0], "members": members})
                )
                groups.add(ROOM, websocket)
                tell(groups, "joined", id=me[0], name=name, count=len(here))
            elif data.get("type") == "say":
                text = str(data.get("text") or "").strip()[:1000]
                if text:
                    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
                    tell(groups, "message", id=me[0], name=me[1], text=text, time=now)
    finally:
        if here.pop(websocket, None) is not None:
            groups.remove(ROOM, websocket)
            tell(groups, "left", id=me[0], name=me[1], count=len(here))
