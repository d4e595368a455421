"""DRF authentication by the ``x-api-key`` header, as Neuronpedia's API does."""

from rest_framework import authentication, exceptions

from accounts.selectors import api_key_user


class ApiKeyAuthentication(authentication.BaseAuthentication):
    header = "HTTP_X_API_KEY"

    def authenticate(self, request):
        key = request.META.get(self.header)
        if not key:
            return None
        user = api_key_user(key=key.strip())
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key (x-api-key).")
        return (user, None)

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) to anonymous requests that need a user.
        return "x-api-key"
