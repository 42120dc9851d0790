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
    api_webhooks,
    api_work,
    auth_pages,
    chat,
    control_pages,
    events,
    listen,
    notifications,
    pages,
    profile_pages,
    webhook_pages,
)

ROUTERS: list[APIRouter] = [
    api_v1_campaigns.router,
    api_v1_work.router,
    api_v1_docs.router,
    api_work.router,
    api_feedback.router,
    api_account.router,
    api_control.router,
    api_webhooks.router,
    auth_pages.router,
    pages.router,
    profile_pages.router,
    chat.router,
    control_pages.router,
    notifications.router,
    webhook_pages.router,
    events.router,
    listen.router,
]

V1_ROUTERS: list[APIRouter] = [api_v1_campaigns.router, api_v1_work.router]
