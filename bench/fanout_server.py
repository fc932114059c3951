"""
The server of bench/fanout.py: every connection says its worker's pid,
joins the group "all", and sends what it receives to the group.
"""

import os


async def handler(websocket):
    groups = websocket.factory.groups
    await websocket.send(str(os.getpid()))
    groups.add("all", websocket)
    async for message in websocket:
        groups.send("all", message)
