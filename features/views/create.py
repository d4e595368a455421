"""Adding data from the browser (issue 16, item 13): ``/model/new`` and ``/sae/new``, plain
forms over the same services as ``/api/model/new`` and ``/api/source-set/new``; their
validation errors are shown on the form."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from models_app import selectors as model_selectors
from models_app import services
from models_app.models import Model
from neuronsite.errors import ApplicationError, ValidationFailed
from neuronsite.fields import Visibility

VISIBILITY_CHOICES = [
    (Visibility.PUBLIC, "Public"),
    (Visibility.UNLISTED, "Unlisted"),
    (Visibility.PRIVATE, "Private"),
]


class ModelNewForm(forms.Form):
    id = forms.CharField(
        label="Model id", max_length=128, help_text="e.g. gpt2-small (letters, digits, . _ -)"
    )
    display_name = forms.CharField(label="Display name", max_length=200, required=False)
    creator_name = forms.CharField(label="Owner / creator", max_length=200, required=False)
    layers = forms.IntegerField(label="Layers", min_value=0, max_value=10_000)
    d_model = forms.IntegerField(label="d_model", min_value=1, required=False)
    tl_model_name = forms.CharField(
        label="TransformerLens name", max_length=200, required=False, help_text="e.g. gpt2-small"
    )
    local_path = forms.CharField(
        label="or local folder", max_length=500, required=False, help_text="a saved model folder"
    )
    instruct = forms.BooleanField(label="Instruct model (has a chat template)", required=False)
    visibility = forms.ChoiceField(
        label="Visibility", choices=VISIBILITY_CHOICES, initial=Visibility.UNLISTED
    )

    def clean(self):
        data = super().clean()
        if data.get("tl_model_name") and data.get("local_path"):
            raise forms.ValidationError(
                "Load the model one way: a TransformerLens name or a local folder, not both."
            )
        return data


class SaeNewForm(forms.Form):
    model = forms.ModelChoiceField(label="Model", queryset=Model.objects.none(), to_field_name="name")
    name = forms.CharField(
        label="SAE set id", max_length=120, help_text="e.g. res-jb; sources are named LAYER-ID"
    )
    description = forms.CharField(
        label="Display name / description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    type = forms.ChoiceField(
        label="Hook grouping",
        choices=[
            ("sae", "SAE (residual)"),
            ("att", "SAE (attention)"),
            ("mlp", "SAE (MLP)"),
            ("transcoder", "Transcoder"),
        ],
    )
    hook_template = forms.CharField(
        label="Hook name",
        max_length=200,
        required=False,
        help_text="with {layer}, e.g. blocks.{layer}.hook_resid_post; empty: each local folder's cfg.json says",
    )
    creator_name = forms.CharField(label="Creator", max_length=200, required=False)
    loading = forms.CharField(
        label="How to load each layer",
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "class": "code-lines",
                "placeholder": "0 gpt2-small-res-jb blocks.0.hook_resid_pre\n1 /data/saes/layer1",
            }
        ),
        help_text="one line per layer: LAYER RELEASE SAE_ID (sae_lens) or LAYER /path/to/sae-folder",
    )
    visibility = forms.ChoiceField(
        label="Visibility", choices=VISIBILITY_CHOICES, initial=Visibility.UNLISTED
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        owned = Model.objects.visible_to(user)
        if not user.is_staff:
            owned = owned.filter(Q(owner=user) | Q(owner__isnull=True))
        self.fields["model"].queryset = owned.order_by("name")


def _form_error(form, exc: ApplicationError) -> None:
    """Put a service's error on the form field it names (``id`` is the model id), else on the
    form."""
    field = {"id": "id"}.get(exc.field, exc.field)
    form.add_error(field if field in form.fields else None, exc.message)


@login_required
def model_new(request):
    form = ModelNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        try:
            model = services.model_create(
                name=v["id"],
                layers=v["layers"],
                owner=request.user,
                display_name=v["display_name"],
                d_model=v["d_model"],
                visibility=v["visibility"],
                creator_name=v["creator_name"],
                tl_model_name=v["tl_model_name"],
                local_path=v["local_path"],
                instruct=v["instruct"],
            )
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            return redirect("model", model.name)
    return render(request, "features/model_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def sae_new(request):
    form = SaeNewForm(request.POST or None, user=request.user, initial={"model": request.GET.get("model")})
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        try:
            loading = services.parse_layer_loading(v["loading"], layers=v["model"].layers)
            source_set = services.source_set_create_with_loading(
                model=v["model"],
                name=v["name"],
                owner=request.user,
                loading=loading,
                description=v["description"],
                type=v["type"],
                hook_template=v["hook_template"],
                creator_name=v["creator_name"],
                visibility=v["visibility"],
            )
        except ValidationFailed as exc:
            _form_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("model-child", source_set.model.name, source_set.name)
    return render(request, "features/sae_new.html", {"form": form}, status=400 if form.errors else 200)


MAX_EVAL_UPLOAD_BYTES = 20 * 1024 * 1024


@login_required
@require_POST
def eval_upload(request, model_id: str, source: str):
    """A SAEBench result file uploaded on a source page you own (or as staff): the same service
    as ``import_saebench``; the outcome is a message on the source page."""
    import json

    from django.http import Http404

    try:
        src = model_selectors.source_get(model_name=model_id, name=source, user=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    back = reverse("model-child", args=[src.model.name, src.name]) + "#evals"
    upload = request.FILES.get("file")
    try:
        services.source_set_check_owner(source_set=src.source_set, user=request.user)
        if upload is None:
            raise ValidationFailed({"file": "choose a SAEBench result JSON file"})
        if upload.size > MAX_EVAL_UPLOAD_BYTES:
            raise ValidationFailed({"file": f"larger than {MAX_EVAL_UPLOAD_BYTES // (1024 * 1024)} MB"})
        try:
            data = json.loads(upload.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ValidationFailed({"file": f"not valid JSON ({exc})"}) from exc
        evals = services.evals_import(model=src.model, data=data, source=src)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    names = ", ".join(ev.type.name for ev in evals)
    messages.success(request, f"Imported the {names} eval{'s' if len(evals) > 1 else ''}.")
    return redirect(back)


# --- researcher pass (issue 16, item 14): dashboards and uploads from a source page you own ------

CORPUS_NAME = r"^(hf:)?[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?(:[A-Za-z0-9_.\[\]%+-]+)?$"


class DashboardsGenerateForm(forms.Form):
    corpus = forms.RegexField(
        label="Corpus",
        regex=CORPUS_NAME,
        initial="pydoc",
        max_length=200,
        error_messages={
            "invalid": "Corpus: give pydoc or a Hugging Face dataset name (e.g. NeelNanda/pile-10k), "
            "not a file path."
        },
        help_text="pydoc (offline, ships with Python) or a Hugging Face dataset name[:split]",
    )
    n_prompts = forms.IntegerField(
        label="Number of prompts",
        initial=1024,
        min_value=1,
        max_value=100_000,
        error_messages={
            "min_value": "Number of prompts must be at least %(limit_value)s.",
            "max_value": "Number of prompts must be at most %(limit_value)s.",
        },
    )
    ctx_len = forms.IntegerField(
        label="Context length (tokens)",
        initial=64,
        min_value=2,
        max_value=4096,
        error_messages={
            "min_value": "Context length must be at least %(limit_value)s tokens.",
            "max_value": "Context length must be at most %(limit_value)s tokens.",
        },
    )

    def clean_corpus(self):
        corpus = self.cleaned_data["corpus"]
        if corpus.endswith((".txt", ".jsonl")) or ".." in corpus:
            raise forms.ValidationError(self.fields["corpus"].error_messages["invalid"])
        return corpus


def _owned_source(request, model_id: str, source: str):
    """The source if the user may see it (else 404) and owns it or its set, or is staff (else 403)."""
    from django.http import Http404

    try:
        src = model_selectors.source_get(model_name=model_id, name=source, user=request.user)
    except ApplicationError as exc:
        raise Http404(exc.message) from exc
    user = request.user
    if not (user.is_staff or user.pk in (src.owner_id, src.source_set.owner_id)):
        from django.core.exceptions import PermissionDenied as DjangoPermissionDenied

        raise DjangoPermissionDenied("Only the owner of this source can generate its dashboards.")
    return src


def source_manageable(user, source) -> bool:
    """Whether ``user`` sees the owner's actions (generate dashboards, upload) on ``source``'s page."""
    return bool(
        user.is_authenticated and (user.is_staff or user.pk in (source.owner_id, source.source_set.owner_id))
    )


@login_required
def dashboards_generate_page(request, model_id: str, source: str):
    """``/{model}/{source}/dashboards/generate``: a sharded dashboard-generation job for a source you
    own (``inference.dashboards.sharding.dashboards_job_create``); on success, the Jobs page shows
    its live progress."""
    from inference.dashboards.sharding import dashboards_job_create

    src = _owned_source(request, model_id, source)
    form = DashboardsGenerateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        v = form.cleaned_data
        try:
            job = dashboards_job_create(
                source=src,
                owner=request.user,
                corpus=v["corpus"],
                n_prompts=v["n_prompts"],
                ctx_len=v["ctx_len"],
            )
        except ApplicationError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, f"Queued job {job.pk}: {job.title}.")
            return redirect("jobs")
    return render(
        request,
        "features/dashboards_generate.html",
        {"form": form, "source": src, "model": src.model},
        status=400 if form.errors else 200,
    )
