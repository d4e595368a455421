"""The social layer as pages and htmx fragments: votes, comments, bookmarks, lists.

Every action is a plain form POST that works without JavaScript (it redirects back); with htmx
it answers the re-rendered fragment instead. Bad input answers 400 with the fragment showing
the error (htmx is configured in base.html to swap 4xx responses)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from features import selectors, services
from features.jinja_pages import render_page
from features.models import Comment, List
from neuronsite.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from neuronsite.fields import Visibility


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _message(exc: ApplicationError) -> str:
    return exc.message


def _feature(request, model_id, source, index):
    try:
        return selectors.feature_ref_get(
            model_name=model_id, source_name=source, index=index, user=request.user
        )
    except (NotFound, ValidationFailed) as exc:
        raise Http404(_message(exc)) from exc


def _feature_url(feature, anchor: str = "") -> str:
    url = reverse("feature", args=[feature.source.model.name, feature.source.name, feature.index])
    return url + (f"#{anchor}" if anchor else "")


def _done(request, feature, template: str, context: dict, anchor: str, error: str | None = None):
    if _is_htmx(request):
        context.update({"feature": feature, "source": feature.source, "model": feature.source.model})
        context["error"] = error
        # the fragments of the dashboard (Jinja2, as the page that includes them)
        return render_page(request, template, context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    return redirect(_feature_url(feature, anchor))


# --- explanations -------------------------------------------------------------------------------


def _explanations_context(request, feature) -> dict:
    return {
        "explanations": list(selectors.explanations_for_display(user=request.user).filter(feature=feature))
    }


@login_required
@require_POST
def explanation_vote(request, model_id, source, index, explanation_id: int, action: str):
    feature = _feature(request, model_id, source, index)
    if not feature.explanations.filter(pk=explanation_id).exists():
        raise Http404(f"Explanation {explanation_id} is not on this feature.")
    error = None
    try:
        if action == "vote":
            services.explanation_vote(user=request.user, explanation_id=explanation_id)
        elif action == "unvote":
            services.explanation_unvote(user=request.user, explanation_id=explanation_id)
        elif action == "delete":
            services.explanation_delete(user=request.user, explanation_id=explanation_id)
        else:
            raise Http404("Unknown action.")
    except (ValidationFailed, NotFound, PermissionDenied) as exc:
        error = _message(exc)
    return _done(
        request,
        feature,
        "features/_explanations.html",
        _explanations_context(request, feature),
        "explanations",
        error,
    )


# --- comments -----------------------------------------------------------------------------------


def _comments_context(feature) -> dict:
    return {
        "comments": list(
            Comment.objects.filter(feature=feature).select_related("user").order_by("created_at")
        )
    }


@login_required
@require_POST
def comment_post(request, model_id, source, index):
    feature = _feature(request, model_id, source, index)
    error = None
    try:
        services.comment_create(user=request.user, feature=feature, text=request.POST.get("text", ""))
    except ValidationFailed as exc:
        error = _message(exc)
    return _done(request, feature, "features/_comments.html", _comments_context(feature), "comments", error)


@login_required
@require_POST
def comment_delete(request, model_id, source, index, comment_id: int):
    feature = _feature(request, model_id, source, index)
    error = None
    try:
        services.comment_delete(user=request.user, comment_id=comment_id)
    except NotFound as exc:
        error = _message(exc)
    return _done(request, feature, "features/_comments.html", _comments_context(feature), "comments", error)


# --- bookmarks ----------------------------------------------------------------------------------


@login_required
@require_POST
def bookmark_toggle(request, model_id, source, index):
    feature = _feature(request, model_id, source, index)
    if selectors.bookmark_exists(user=request.user, feature=feature):
        services.bookmark_delete(user=request.user, feature=feature)
    else:
        services.bookmark_add(user=request.user, feature=feature)
    bookmarked = selectors.bookmark_exists(user=request.user, feature=feature)
    return _done(request, feature, "features/_bookmark.html", {"bookmarked": bookmarked}, "")


# --- lists from a dashboard ---------------------------------------------------------------------


def _lists_context(request, feature) -> dict:
    return {
        "lists": list(
            selectors.lists_visible(user=request.user)
            .filter(items__feature=feature)
            .select_related("owner")
            .order_by("-updated_at")
        ),
        "my_lists": list(selectors.lists_owned(user=request.user)),
    }


@login_required
@require_POST
def feature_list_add(request, model_id, source, index):
    """Add the feature to one of your lists (``list_id``) or to a new list (``new_name``)."""
    feature = _feature(request, model_id, source, index)
    error = None
    try:
        new_name = (request.POST.get("new_name") or "").strip()
        note = request.POST.get("note", "")
        if new_name:
            lst = services.list_create(user=request.user, name=new_name)
            list_id = lst.pk
        else:
            list_id = request.POST.get("list_id")
            if not list_id:
                raise ValidationFailed({"list": "choose a list or name a new one"})
        services.list_features_add(user=request.user, list_id=list_id, features=[(feature, note)])
    except (ValidationFailed, NotFound) as exc:
        error = _message(exc)
    return _done(request, feature, "features/_lists.html", _lists_context(request, feature), "lists", error)


@login_required
@require_POST
def feature_list_remove(request, model_id, source, index):
    """Remove the feature from one of your lists (``list_id``), from its dashboard."""
    feature = _feature(request, model_id, source, index)
    error = None
    try:
        services.list_feature_remove(user=request.user, list_id=request.POST.get("list_id"), feature=feature)
    except (ValidationFailed, NotFound) as exc:
        error = _message(exc)
    return _done(request, feature, "features/_lists.html", _lists_context(request, feature), "lists", error)


# --- list pages ---------------------------------------------------------------------------------


def lists_page(request):
    """Your lists (and a form to start one); recent public lists for everyone."""
    error = None
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={reverse('lists')}")
        try:
            lst = services.list_create(
                user=request.user,
                name=request.POST.get("name", ""),
                description=request.POST.get("description", ""),
                test_text=request.POST.get("test_text", ""),
                visibility=request.POST.get("visibility") or None,
            )
            return redirect("list", lst.pk)
        except ValidationFailed as exc:
            error = _message(exc)
    public = (
        List.objects.filter(visibility=Visibility.PUBLIC).select_related("owner").order_by("-updated_at")[:50]
    )
    return render(
        request,
        "features/lists.html",
        {
            "my_lists": list(selectors.lists_owned(user=request.user)),
            "public_lists": list(public),
            "error": error,
            "visibilities": Visibility.choices,
        },
        status=400 if error else 200,
    )


def _list_or_404(request, list_id):
    try:
        return selectors.list_get(list_id=list_id, user=request.user)
    except (NotFound, ValidationFailed) as exc:
        raise Http404(_message(exc)) from exc


def list_page(request, list_id: int):
    lst = _list_or_404(request, list_id)
    items = list(lst.items.all())
    return render(
        request,
        "features/list.html",
        {
            "lst": lst,
            "items": items,
            "comments": list(lst.comments.all()),
            "is_owner": request.user.is_authenticated and lst.owner_id == request.user.pk,
            "visibilities": Visibility.choices,
            "share_url": request.build_absolute_uri(reverse("list", args=[lst.pk])),
        },
    )


def _owner_action(request, list_id, fn, success: str, redirect_to: str | None = None):
    try:
        fn()
        messages.success(request, success)
    except (ValidationFailed, NotFound) as exc:
        messages.error(request, _message(exc))
    return redirect(redirect_to or reverse("list", args=[list_id]))


@login_required
@require_POST
def list_edit(request, list_id: int):
    p = request.POST
    return _owner_action(
        request,
        list_id,
        lambda: services.list_update(
            user=request.user,
            list_id=list_id,
            name=p.get("name"),
            description=p.get("description"),
            test_text=p.get("test_text"),
            visibility=p.get("visibility"),
        ),
        "List saved.",
    )


@login_required
@require_POST
def list_delete(request, list_id: int):
    try:
        services.list_delete(user=request.user, list_id=list_id)
    except NotFound as exc:
        raise Http404(_message(exc)) from exc
    messages.success(request, "List deleted.")
    return redirect("lists")


@login_required
@require_POST
def list_item_note(request, list_id: int, item_id: int):
    return _owner_action(
        request,
        list_id,
        lambda: services.list_item_note_update(
            user=request.user, list_id=list_id, item_id=item_id, note=request.POST.get("note", "")
        ),
        "Note saved.",
    )


@login_required
@require_POST
def list_item_remove(request, list_id: int, item_id: int):
    def remove():
        lst = selectors.list_get(list_id=list_id, user=request.user)
        item = next((i for i in lst.items.all() if i.pk == item_id), None)
        if item is None:
            raise NotFound(f"Item {item_id} is not in list {list_id}.")
        services.list_feature_remove(user=request.user, list_id=list_id, feature=item.feature)

    return _owner_action(request, list_id, remove, "Removed from the list.")


@login_required
@require_POST
def list_comment_post(request, list_id: int):
    lst = _list_or_404(request, list_id)
    return _owner_action(
        request,
        list_id,
        lambda: services.list_comment_create(user=request.user, lst=lst, text=request.POST.get("text", "")),
        "Comment posted.",
        reverse("list", args=[list_id]) + "#comments",
    )


@login_required
@require_POST
def list_comment_delete(request, list_id: int, comment_id: int):
    return _owner_action(
        request,
        list_id,
        lambda: services.list_comment_delete(user=request.user, comment_id=comment_id),
        "Comment deleted.",
        reverse("list", args=[list_id]) + "#comments",
    )
