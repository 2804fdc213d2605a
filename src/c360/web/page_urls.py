"""Page routes of every app, in one place so the navigation is easy to follow."""

from django.urls import path

from c360.web import views

urlpatterns = [
    path("", views.home, name="home"),
]
