"""
A chat room: every message a browser sends is broadcast to every browser.

    twistd -n websocket --handler examples.chat.handler --static examples/chat

then open http://localhost:8765/ in two windows.
"""

import json

import txws

# The open connections of the room.
room: set = set()


async def handler(websocket):
    room.add(websocket)
    try:
        txws.broadcast(room, json.dumps({"event": "joined", "count": len(room)}))
        async for message in websocket:
            if not isinstance(message, str):
                continue
            try:
                data = json.loads(message)
                text = str(data["text"])[:1000]
                name = str(data.get("name") or "anonymous")[:40]
            except (ValueError, KeyError, TypeError):
                continue
            txws.broadcast(room, json.dumps({"event": "message", "name": name, "text": text}))
    finally:
        room.discard(websocket)
        txws.broadcast(room, json.dumps({"event": "left", "count": len(room)}))
