"""Forms of the messaging portal pages: send, bulk (upload, map), filters, templates, opt-outs.

Template parameters are typed as `name=value` lines. For a WhatsApp
template the names are its placeholders: `1`, `2`… (or the names of a
named template) for the body, `header.1` for the header, `button.0` for
the URL of button 0; `build_params` turns them into Meta's components.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import timedelta

from django import forms
from django.utils import timezone

from jood import placeholders
from jood.phones import InvalidNumber, to_e164
from messaging.models import Status, Template
from messaging.services import MAX_BULK
from providers.models import Channel, ProviderAccount

MAX_CSV_BYTES = 5 * 1024 * 1024
DATETIME_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]
PHONE_HEADERS = ("phone", "mobile", "msisdn", "number", "recipient", "to", "tel", "جوال", "هاتف", "رقم")


# --- template parameters ---------------------------------------------------------------------
def parse_params(text: str) -> dict[str, str]:
    """Parse `name=value` lines; raise ValidationError naming a malformed line."""
    params: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise forms.ValidationError(f"Line {number} has no “=”: write one name=value per line.")
        name, value = line.split("=", 1)
        name = name.strip()
        if not name:
            raise forms.ValidationError(f"Line {number} has no name before “=”.")
        params[name] = value.strip()
    return params


def _wa_components(template: Template) -> dict[str, dict]:
    return {str(c.get("type", "")).upper(): c for c in (template.components or []) if isinstance(c, dict)}


def template_fields(template: Template | None) -> list[str]:
    """Return the parameter names a template takes, in order (see the module docstring for WhatsApp)."""
    if template is None:
        return []
    if template.kind != Template.Kind.WHATSAPP:
        return template.placeholders
    components = _wa_components(template)
    names: list[str] = []
    header = components.get("HEADER") or {}
    if str(header.get("format", "TEXT")).upper() in ("IMAGE", "VIDEO", "DOCUMENT"):
        names.append("header")
    else:
        names += [f"header.{n}" for n in placeholders.names(header.get("text"))]
    body = components.get("BODY") or {}
    names += placeholders.names(body.get("text"))
    buttons = (components.get("BUTTONS") or {}).get("buttons") or []
    for index, button in enumerate(buttons):
        if str(button.get("type", "")).upper() == "URL" and placeholders.names(button.get("url")):
            names.append(f"button.{index}")
    return names


def _text_param(name: str, value: str) -> dict:
    param = {"type": "text", "text": value}
    if not name.isdigit():
        param["parameter_name"] = name  # a NAMED template (Meta's parameter_format NAMED)
    return param


def build_params(template: Template | None, values: dict[str, str]) -> dict:
    """Return the message parameters for a template from `name=value` pairs."""
    if template is None:
        return {}
    if template.kind != Template.Kind.WHATSAPP:
        return dict(values)
    components: list[dict] = []
    wa = _wa_components(template)
    header = wa.get("HEADER") or {}
    header_format = str(header.get("format", "TEXT")).upper()
    if header_format in ("IMAGE", "VIDEO", "DOCUMENT") and values.get("header"):
        kind = header_format.lower()
        components.append({"type": "header", "parameters": [{"type": kind, kind: {"link": values["header"]}}]})
    else:
        header_names = placeholders.names(header.get("text"))
        given = [(n, values[f"header.{n}"]) for n in header_names if values.get(f"header.{n}")]
        if given:
            components.append({"type": "header", "parameters": [_text_param(n, v) for n, v in given]})
    body_names = placeholders.names((wa.get("BODY") or {}).get("text"))
    given = [(n, values[n]) for n in body_names if values.get(n)]
    if given:
        components.append({"type": "body", "parameters": [_text_param(n, v) for n, v in given]})
    for name, value in values.items():
        if name.startswith("button.") and value:
            index = name.split(".", 1)[1]
            components.append(
                {"type": "button", "sub_type": "url", "index": index, "parameters": [{"type": "text", "text": value}]}
            )
    return {"components": components}


def normalize_newlines(text: str) -> str:
    """Browsers send textarea line breaks as CRLF; one LF is one SMS character, not two."""
    return (text or "").replace("\r\n", "\n").replace("\r", "\n")


def missing_params(template: Template | None, values: dict[str, str]) -> list[str]:
    return [name for name in template_fields(template) if not values.get(name)]


def preview_text(template: Template | None, body: str, values: dict[str, str]) -> str:
    """The text a recipient would read (a placeholder with no value stays visible)."""
    if template is None:
        return body
    return placeholders.render(template.body, values.get, numeric=template.kind == Template.Kind.WHATSAPP)


# --- send ------------------------------------------------------------------------------------
class _MessageFieldsMixin:
    """Channel, provider account and template choices scoped to the organization."""

    def _scope(self, organization) -> None:
        accounts = ProviderAccount.objects.filter(organization=organization, is_active=True).order_by(
            "channel", "priority", "id"
        )
        self.fields["provider_account"].queryset = accounts
        self.fields["provider_account"].label_from_instance = lambda a: (
            f"{a.label} ({a.get_provider_display()}, {a.get_channel_display()})"
        )
        if "scheduled_at" in self.fields:
            zone = timezone.get_current_timezone_name()
            self.fields["scheduled_at"].help_text = f"In {zone} (your time zone). Leave empty to send now."
        templates = Template.objects.filter(organization=organization).order_by("channel", "name", "language")
        self.fields["template"].queryset = templates
        self.fields["template"].label_from_instance = lambda t: (
            f"{t.name} · {t.language} · {t.get_channel_display()}"
            + ("" if t.is_approved else f" ({t.approval_status.lower() or 'not approved'})")
        )

    def _check_channel(self, data: dict) -> None:
        channel = data.get("channel")
        account = data.get("provider_account")
        template = data.get("template")
        if account is not None and channel and account.channel != channel:
            self.add_error("provider_account", f"{account.label} sends {account.get_channel_display()}, not {channel}.")
        if template is not None and channel and template.channel != channel:
            self.add_error("template", f"This template is for {template.get_channel_display()}.")
        if template is not None and not template.is_approved:
            self.add_error(
                "template", f"Meta has not approved this template ({template.approval_status or 'pending'})."
            )
        scheduled = data.get("scheduled_at")
        if scheduled and scheduled < timezone.now() - timedelta(minutes=1):
            self.add_error("scheduled_at", "This time is in the past. Leave it empty to send now.")


def _account_field(**kwargs) -> forms.ModelChoiceField:
    """The provider account to send through (scoped by `_MessageFieldsMixin._scope`); empty: routing."""
    return forms.ModelChoiceField(
        queryset=ProviderAccount.objects.none(),
        required=False,
        empty_label="Automatic routing",
        label="Provider account",
        **kwargs,
    )


def _scheduled_field() -> forms.DateTimeField:
    """When to send (in the user's time zone; `_MessageFieldsMixin._scope` says which); empty: now."""
    return forms.DateTimeField(
        label="Send at",
        required=False,
        input_formats=DATETIME_INPUT_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty to send now.",
    )


class SendForm(_MessageFieldsMixin, forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.SMS)
    provider_account = _account_field(
        help_text="Automatic: the active account with the lowest priority number that accepts the recipient's prefix.",
    )
    to = forms.CharField(
        label="Recipient",
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "tel", "placeholder": "+966501234567", "autocomplete": "off"}),
        help_text="In international form: + and the country code.",
    )
    template = forms.ModelChoiceField(
        queryset=Template.objects.none(), required=False, empty_label="No template: write the text below"
    )
    params = forms.CharField(
        label="Template parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "first_name=Sara\norder=1234", "spellcheck": "false"}),
        help_text="One name=value per line. WhatsApp: 1=…, 2=… for the body, header.1=…, button.0=….",
    )
    body = forms.CharField(
        label="Text",
        required=False,
        max_length=4096,
        widget=forms.Textarea(attrs={"rows": 5, "data-sms-counter": "1"}),
    )
    media = forms.FileField(
        required=False,
        help_text="Image (JPEG, PNG up to 5 MB), PDF or other document, audio or video. "
        "SMS: only through Twilio or the sandbox (MMS).",
    )
    scheduled_at = _scheduled_field()

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope(organization)

    def clean_to(self) -> str:
        try:
            return to_e164(self.cleaned_data["to"])
        except InvalidNumber as exc:
            raise forms.ValidationError(f"Not a valid phone number: {exc.reason}. Use the +<country code> form.")

    def clean_params(self) -> dict[str, str]:
        return parse_params(self.cleaned_data.get("params", ""))

    def clean_body(self) -> str:
        return normalize_newlines(self.cleaned_data.get("body", ""))

    def clean(self):
        data = super().clean()
        self._check_channel(data)
        template = data.get("template")
        if template is None and not data.get("body") and not data.get("media"):
            self.add_error("body", "Write the text, choose a template, or attach a file.")
        if template is not None and "params" in data:
            missing = missing_params(template, data["params"])
            if missing:
                self.add_error("params", f"Give a value for: {', '.join(missing)}.")
        return data


class ReplyForm(forms.Form):
    """The inbox's reply box: free text, or (outside the WhatsApp window) an approved template."""

    channel = forms.ChoiceField(choices=Channel.choices)
    template = forms.ModelChoiceField(queryset=Template.objects.none(), required=False, empty_label="No template")
    params = forms.CharField(
        label="Template parameters",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "1=Sara", "spellcheck": "false"}),
        help_text="One name=value per line.",
    )
    body = forms.CharField(label="Reply", required=False, max_length=4096, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, organization, window_open: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.window_open = window_open
        templates = Template.objects.filter(organization=organization).order_by("channel", "name", "language")
        self.fields["template"].queryset = templates
        self.fields["template"].label_from_instance = lambda t: f"{t.name} · {t.language} · {t.get_channel_display()}"

    def clean_params(self) -> dict[str, str]:
        return parse_params(self.cleaned_data.get("params", ""))

    def clean_body(self) -> str:
        return normalize_newlines(self.cleaned_data.get("body", "")).strip()

    def clean(self):
        data = super().clean()
        channel, template = data.get("channel"), data.get("template")
        if template is not None:
            if channel and template.channel != channel:
                self.add_error("template", f"This template is for {template.get_channel_display()}.")
            elif not template.is_approved:
                self.add_error("template", "Meta has not approved this template.")
            elif "params" in data and missing_params(template, data["params"]):
                self.add_error("params", f"Give a value for: {', '.join(missing_params(template, data['params']))}.")
        elif not data.get("body"):
            self.add_error("body", "Write a reply, or choose a template.")
        elif channel == Channel.WHATSAPP and not self.window_open:
            self.add_error(
                "body",
                "The 24-hour WhatsApp window is closed: this customer has not written in the last 24 hours. "
                "Choose an approved template instead.",
            )
        return data


class SandboxInboundForm(forms.Form):
    """A customer's reply to simulate through the organization's sandbox account (posted to webhooks' view)."""

    channel = forms.ChoiceField(choices=[("whatsapp", "WhatsApp"), ("sms", "SMS")], initial="whatsapp", required=False)
    from_number = forms.CharField(label="From", max_length=32, widget=forms.TextInput(attrs={"inputmode": "tel"}))
    body = forms.CharField(label="Their message", max_length=4096, required=False, initial="Hello")

    def clean_channel(self) -> str:
        return self.cleaned_data.get("channel") or "whatsapp"


# --- bulk ------------------------------------------------------------------------------------
class BulkUploadForm(_MessageFieldsMixin, forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"A header row, then one recipient per row: a phone column and any columns for template "
        f"parameters. Up to {MAX_BULK:,} rows, comma or semicolon separated, UTF-8.",
    )
    name = forms.CharField(label="Batch name", max_length=200, required=False, help_text="To find it later.")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.SMS)
    provider_account = _account_field()
    template = forms.ModelChoiceField(
        queryset=Template.objects.none(),
        required=False,
        empty_label="No template: one text for all",
        help_text="With a template, you map its parameters to columns in the next step.",
    )
    body = forms.CharField(
        label="Text", required=False, max_length=4096, widget=forms.Textarea(attrs={"rows": 4, "data-sms-counter": "1"})
    )
    scheduled_at = _scheduled_field()

    field_order = ["file", "name", "channel", "provider_account", "template", "body", "scheduled_at"]

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope(organization)

    def clean_body(self) -> str:
        return normalize_newlines(self.cleaned_data.get("body", ""))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CSV_BYTES:
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; at most {MAX_CSV_BYTES:,} are read.")
        try:
            self.parsed = parse_csv(upload.read())
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        return upload

    def clean(self):
        data = super().clean()
        self._check_channel(data)
        if data.get("template") is None and not data.get("body"):
            self.add_error("body", "Write the text, or choose a template.")
        return data


NOT_TEXT = "The file is not text in UTF-8: save it from your spreadsheet as “CSV UTF-8”."


def _decode(data: bytes) -> str:
    """Decode UTF-8, UTF-16 (Excel's "Unicode text", with its byte order mark) or Windows Arabic (cp1256).

    A NUL byte is never in a text file (it is binary, or UTF-16 without a
    byte order mark): refused, since neither csv nor the database takes it.
    """
    candidates = ("utf-8-sig", "cp1256")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16",)
    elif b"\x00" in data[:4096] and len(data) >= 2:
        # UTF-16 without a byte order mark: every other byte of ASCII text is NUL.
        candidates = ("utf-16-le",) if data[1:2] == b"\x00" else ("utf-16-be",)
    for encoding in candidates:
        try:
            text = codecs.decode(data, encoding)
        except UnicodeDecodeError:
            continue
        text = text.lstrip("\ufeff")
        try:
            text.encode("utf-8")  # a lone surrogate (odd UTF-16) is not storable text
        except UnicodeEncodeError:
            break
        if "\x00" in text:
            break
        return text
    raise ValueError(NOT_TEXT)


def _looks_like_phone(cell: str) -> bool:
    digits = re.sub(r"[\s()+\-.]", "", cell or "")
    return digits.isdigit() and len(digits) >= 7


def parse_csv(data: bytes) -> dict:
    """Return {"columns": [...], "rows": [[...], ...]} from CSV bytes; raise ValueError with a readable reason."""
    text = _decode(data)
    if not text.strip():
        raise ValueError("The file is empty.")
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        rows = [[cell.strip() for cell in row] for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        # A field over csv's limit (131,072 characters), a stray quote…: the file's fault, said plainly.
        line = f" (line {reader.line_num})" if reader.line_num else ""
        raise ValueError(f"The file cannot be read as CSV{line}: {exc}.") from None
    if not rows:
        raise ValueError("The file has no rows.")
    first = rows[0]
    if any(_looks_like_phone(cell) for cell in first):
        # No header row: the first row is a recipient already.
        columns = [f"Column {i + 1}" for i in range(max(len(r) for r in rows))]
    else:
        columns = [cell or f"Column {i + 1}" for i, cell in enumerate(first)]
        rows = rows[1:]
        width = max([len(columns)] + [len(r) for r in rows])
        columns += [f"Column {i + 1}" for i in range(len(columns), width)]
    if not rows:
        raise ValueError("The file has a header row but no recipients.")
    if len(rows) > MAX_BULK:
        raise ValueError(f"The file has {len(rows):,} rows; at most {MAX_BULK:,} per batch. Split it in parts.")
    # Unique column labels, so a mapping names one column.
    seen: dict[str, int] = {}
    unique = []
    for column in columns:
        seen[column] = seen.get(column, 0) + 1
        unique.append(column if seen[column] == 1 else f"{column} ({seen[column]})")
    width = len(unique)
    return {"columns": unique, "rows": [(r + [""] * width)[:width] for r in rows]}


def guess_phone_column(columns: list[str], rows: list[list[str]]) -> int:
    for index, column in enumerate(columns):
        label = column.strip().lower()
        if any(word == label or word in label.split() or label.startswith(word) for word in PHONE_HEADERS):
            return index
    for index in range(len(columns)):
        if rows and all(_looks_like_phone(r[index]) for r in rows[:5] if r[index]):
            return index
    return 0


class BulkMapForm(forms.Form):
    """Step 2: which column is the phone, and which column fills each template parameter."""

    def __init__(self, *args, columns: list[str], rows: list[list[str]], fields: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(str(i), c) for i, c in enumerate(columns)]
        self.fields["phone_column"] = forms.TypedChoiceField(
            label="Phone column",
            choices=choices,
            coerce=int,
            initial=str(guess_phone_column(columns, rows)),
            help_text="The numbers, best in international form (+966…).",
        )
        self.param_names = fields
        lowered = {c.strip().lower(): str(i) for i, c in enumerate(columns)}
        for name in fields:
            self.fields[f"param_{name}"] = forms.TypedChoiceField(
                label=f"Parameter {{{{{name}}}}}",
                choices=[("", "— none —"), *choices],
                coerce=int,
                empty_value=None,
                required=False,
                initial=lowered.get(name.lower(), ""),
            )

    def mapping(self) -> dict:
        return {
            "phone": self.cleaned_data["phone_column"],
            "params": {name: self.cleaned_data.get(f"param_{name}") for name in self.param_names},
        }


# --- lists -----------------------------------------------------------------------------------
class MessageFilterForm(forms.Form):
    # "failures": every final failure (undelivered, failed, rejected), what the dashboard's "All failed" opens.
    status = forms.ChoiceField(
        choices=[("", "Any status"), ("failures", "Any failure"), *Status.choices], required=False
    )
    channel = forms.ChoiceField(choices=[("", "Any channel"), *Channel.choices], required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    phone = forms.CharField(
        label="Phone", required=False, max_length=32, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    batch = forms.UUIDField(required=False, widget=forms.HiddenInput)


# --- templates and opt-outs ----------------------------------------------------------------------
class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["channel", "name", "language", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 6, "data-sms-counter": "1"})}
        help_texts = {
            "name": "Letters, digits, dashes and underscores are easiest to use from the API.",
            "language": "A language code, e.g. en, ar, en_US.",
            "body": "Use {{first_name}}-style placeholders; each becomes a parameter when sending.",
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["body"].required = True
        self.fields["name"].max_length = 200

    def clean_body(self) -> str:
        return normalize_newlines(self.cleaned_data.get("body", ""))

    def clean(self):
        data = super().clean()
        name, language, channel = data.get("name"), data.get("language"), data.get("channel")
        if name and language and channel:
            clash = Template.objects.filter(
                organization=self.organization, kind=Template.Kind.OWN, channel=channel, name=name, language=language
            )
            if self.instance.pk:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("name", "You have a template with this name, language and channel already.")
        return data


class OptOutForm(forms.Form):
    channel = forms.ChoiceField(choices=Channel.choices)
    phone = forms.CharField(max_length=32, widget=forms.TextInput(attrs={"inputmode": "tel"}))

    def clean_phone(self) -> str:
        try:
            return to_e164(self.cleaned_data["phone"])
        except InvalidNumber as exc:
            raise forms.ValidationError(f"Not a valid phone number: {exc.reason}.")
