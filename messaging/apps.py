from django.apps import AppConfig

from jood.nav import NavLink


class MessagingConfig(AppConfig):
    name = "messaging"
    portal_nav = [
        NavLink("Dashboard", "portal-dashboard", "dashboard", 10),
        NavLink("Messages", "portal-messages", "messages", 20),
        NavLink("Inbox", "portal-inbox", "inbox", 30, badge="inbox_unread"),
        NavLink("Analytics", "portal-analytics", "analytics", 40),
        NavLink("Send a message", "portal-send", "send", 50, needs="send"),
        NavLink("Bulk send", "portal-bulk", "bulk", 60, needs="send"),
        NavLink("Batches", "portal-batches", "batches", 70),
        NavLink("Templates", "portal-templates", "templates", 80),
        NavLink("Opt-outs", "portal-opt-outs", "opt-outs", 90),
    ]
