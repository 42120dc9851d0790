"""Every router of the web app, in the order create_app includes them; V1_ROUTERS are
the ones /api/v1/openapi.json documents."""

from __future__ import annotations

from fastapi import APIRouter

from web_interface.routes import (
    api_account,
    api_control,
    api_feedback,
    api_v1_campaigns,
    api_v1_docs,
    api_v1_work,
    api_work,
    auth_pages,
    chat,
    control_pages,
    events,
    notifications,
    pages,
)

ROUTERS: list[APIRouter] = [
    api_v1_campaigns.router,
    api_v1_work.router,
    api_v1_docs.router,
    api_work.router,
    api_feedback.router,
    api_account.router,
    api_control.router,
    auth_pages.router,
    pages.router,
    chat.router,
    control_pages.router,
    notifications.router,
    events.router,
]

V1_ROUTERS: list[APIRouter] = [api_v1_campaigns.router, api_v1_work.router]
