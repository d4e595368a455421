"""Server-rendered pages: browsing and dashboards (browse), the social layer (social: votes,
comments, bookmarks, lists), search and the live pages (search: explanation search, search via
inference, steering)."""

from features.views.browse import (  # noqa: F401
    activations_more,
    favicon,
    feature_page,
    feature_vector_download,
    home,
    jump,
    model_child_page,
    model_evals_page,
    model_page,
    random_feature,
    release_page,
    umap_data,
    umap_page,
)
from features.views.create import dashboards_generate_page, eval_upload, model_new, sae_new  # noqa: F401
from features.views.search import search_inference_page, search_page, steer_page  # noqa: F401
from features.views.social import (  # noqa: F401
    bookmark_toggle,
    comment_delete,
    comment_post,
    explanation_vote,
    feature_list_add,
    feature_list_remove,
    list_comment_delete,
    list_comment_post,
    list_delete,
    list_edit,
    list_item_note,
    list_item_remove,
    list_page,
    lists_page,
)
