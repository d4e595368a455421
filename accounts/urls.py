from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("account/signup/", views.signup, name="signup"),
    path("account/login/", views.LoginView.as_view(), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("account/keys/new", views.api_key_create, name="api-key-create"),
    path("account/keys/<int:key_id>/rotate", views.api_key_rotate, name="api-key-rotate"),
    path("account/keys/<int:key_id>/revoke", views.api_key_revoke, name="api-key-revoke"),
    path("user/<str:username>/", views.profile, name="profile"),
]
