"""polyvisor.consoleauth.v1.ConsoleAuthService: the console proxy redeems console tokens."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.api.console_sessions import ConsoleSessions
from polyvisor.api.handlers.context import principal
from polyvisor.common.convert import set_ts
from polyvisor.consoleauth.v1 import consoleauth_service_pb2 as pb
from polyvisor.consoleauth.v1 import consoleauth_service_pb2_grpc as pb_grpc

Ctx: TypeAlias = grpc.aio.ServicerContext


class ConsoleAuthHandlers(pb_grpc.ConsoleAuthServiceServicer):
    def __init__(self, sessions: ConsoleSessions) -> None:
        self.sessions = sessions

    async def RedeemConsoleToken(
        self, request: pb.RedeemConsoleTokenRequest, context: Ctx
    ) -> pb.RedeemConsoleTokenResponse:
        s = await self.sessions.redeem(
            principal(), request.token, request.server_id, request.user_token
        )
        out = pb.RedeemConsoleTokenResponse(
            server_id=s.server_id,
            user_id=s.user_id,
            project_id=s.project_id,
            host=s.host,
            port=s.port,
            password=s.password,
        )
        set_ts(out.expire_time, s.expire_time)
        return out
