from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"}))

    class Meta:
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # password managers: a new account's username (the passwords already say new-password)
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, initial="default")
