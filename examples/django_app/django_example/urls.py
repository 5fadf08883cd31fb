from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("", views.home),
    path("profile", views.profile),
    path("messages", views.messages),
    path("health", views.health),
]
