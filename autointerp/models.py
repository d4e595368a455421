# Explanations and scores live in features.models; autointerp only generates them.
