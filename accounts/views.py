from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import ApiKeyForm, SignupForm
from accounts.models import ApiKey, User
from accounts.selectors import api_keys_of
from features.selectors import lists_visible
from neuronsite.errors import RateLimited
from neuronsite.ratelimit import client_address, rate_limit_hit


def _rate_limited_page(request, exc: RateLimited, template: str, context: dict):
    """The page form again with the limit's message: 429 with ``Retry-After``."""
    response = render(request, template, {**context, "rate_limited": exc.message}, status=429)
    response["Retry-After"] = str(exc.retry_after or 60)
    return response


class LoginView(auth_views.LoginView):
    """Django's login, with attempts limited per address and per account name (issue 10)."""

    template_name = "accounts/login.html"

    def post(self, request, *args, **kwargs):
        try:
            rate_limit_hit(scope="login", ident=client_address(request))
            username = str(request.POST.get("username") or "").strip().lower()[:150]
            if username:
                rate_limit_hit(scope="login_account", ident=f"name:{username}")
        except RateLimited as exc:
            context = self.get_context_data(form=self.get_form_class()(request))
            return _rate_limited_page(request, exc, self.template_name, context)
        return super().post(request, *args, **kwargs)


def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        try:
            rate_limit_hit(scope="signup", ident=client_address(request))
        except RateLimited as exc:
            return _rate_limited_page(request, exc, "accounts/signup.html", {"form": SignupForm()})
    if request.method == "POST" and form.is_valid():
        user = services.user_create(
            username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"],
            email=form.cleaned_data.get("email") or "",
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "accounts/signup.html", {"form": form})


def profile(request, username: str):
    owner = get_object_or_404(User, username=username, is_active=True)
    lists = lists_visible(user=request.user).filter(owner=owner).order_by("-updated_at")
    context = {"owner": owner, "lists": lists, "is_self": request.user == owner}
    if request.user == owner:
        context["bookmarks"] = owner.bookmarks.select_related("feature__source__model")[:100]
        context["vectors"] = owner.features.filter(has_vector=True).select_related("source__model")[:100]
    return render(request, "accounts/profile.html", context)


def _account_page(request, *, new_key: str | None = None, notice: str = ""):
    return render(
        request,
        "accounts/account.html",
        {"keys": api_keys_of(user=request.user), "form": ApiKeyForm(), "new_key": new_key, "notice": notice},
    )


@login_required
def account(request):
    return _account_page(request)


# A new key's clear text is rendered once, in the answer to the POST that made it, and kept
# nowhere (not in the session, not in a message): the database has only its hash.


@login_required
@require_POST
def api_key_create(request):
    form = ApiKeyForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else "default"
    _key, clear = services.api_key_create(user=request.user, name=name)
    return _account_page(
        request, new_key=clear, notice="API key created. Copy it now: it will not be shown again."
    )


@login_required
@require_POST
def api_key_rotate(request, key_id: int):
    try:
        _key, clear = services.api_key_rotate(user=request.user, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404("No such key.") from exc
    return _account_page(
        request,
        new_key=clear,
        notice="API key rotated: the old one no longer works. Copy the new one now.",
    )


@login_required
@require_POST
def api_key_revoke(request, key_id: int):
    try:
        services.api_key_revoke(user=request.user, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404("No such key.") from exc
    messages.success(request, "API key revoked.")
    return redirect("account")
