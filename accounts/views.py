from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import services
from accounts.forms import ApiKeyForm, SignupForm
from accounts.models import ApiKey, User
from accounts.selectors import api_keys_of
from features.selectors import lists_visible


def signup(request):
    form = SignupForm(request.POST or None)
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


@login_required
def account(request):
    return render(
        request,
        "accounts/account.html",
        {
            "keys": api_keys_of(user=request.user),
            "form": ApiKeyForm(),
            "new_key": request.session.pop("new_api_key", None),
        },
    )


def _show_once(request, clear: str) -> None:
    # Shown on the next page load, then gone (never stored on the server in clear).
    request.session["new_api_key"] = clear


@login_required
@require_POST
def api_key_create(request):
    form = ApiKeyForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else "default"
    _key, clear = services.api_key_create(user=request.user, name=name)
    _show_once(request, clear)
    messages.success(request, "API key created. Copy it now: it will not be shown again.")
    return redirect("account")


@login_required
@require_POST
def api_key_rotate(request, key_id: int):
    try:
        _key, clear = services.api_key_rotate(user=request.user, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404("No such key.") from exc
    _show_once(request, clear)
    messages.success(request, "API key rotated: the old one no longer works. Copy the new one now.")
    return redirect("account")


@login_required
@require_POST
def api_key_revoke(request, key_id: int):
    try:
        services.api_key_revoke(user=request.user, key_id=key_id)
    except ApiKey.DoesNotExist as exc:
        raise Http404("No such key.") from exc
    messages.success(request, "API key revoked.")
    return redirect("account")
