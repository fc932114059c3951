"""A handler for the --workers tests: it says which process serves it, then echoes."""

import os


async def pid(websocket):
    await websocket.send(str(os.getpid()))
    async for message in websocket:
        await websocket.send(message)
