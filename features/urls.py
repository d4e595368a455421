from django.urls import path

from features import views

urlpatterns = [
    path("", views.home, name="home"),
    path("<str:model_id>/<str:source>/<str:index>", views.feature_page, name="feature"),
]
