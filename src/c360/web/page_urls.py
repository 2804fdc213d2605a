"""Page routes of every app, in one place so the navigation is easy to follow."""

from django.contrib.auth import views as auth_views
from django.urls import path

from c360.accounts import views as accounts
from c360.analyses import views as analyses
from c360.journeys import views as journeys
from c360.profiles import views as profiles
from c360.sources import kafka_views
from c360.sources import views as sources
from c360.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # accounts (admins only)
    path("users/", accounts.user_list, name="user-list"),
    path("users/new/", accounts.user_create, name="user-create"),
    path("tokens/", accounts.token_list, name="token-list"),
    path("tokens/new/", accounts.token_create, name="token-create"),
    path("tokens/<int:token_id>/revoke/", accounts.token_revoke, name="token-revoke"),
    # data sources and imports
    path("sources/", sources.source_list, name="source-list"),
    path("sources/new/", sources.source_create, name="source-create"),
    path("sources/<int:source_id>/", sources.source_detail, name="source-detail"),
    path("sources/<int:source_id>/grants/", sources.grant_set, name="source-grant"),
    path("sources/<int:source_id>/upload/", sources.upload, name="source-upload"),
    path("sources/<int:source_id>/preview/", sources.upload_preview, name="source-preview"),
    path("sources/<int:source_id>/write-keys/", sources.write_key_create, name="write-key-create"),
    path(
        "sources/<int:source_id>/write-keys/<int:key_id>/revoke/",
        sources.write_key_revoke,
        name="write-key-revoke",
    ),
    path("sources/<int:source_id>/kafka/", kafka_views.kafka_panel, name="kafka-panel"),
    path("sources/<int:source_id>/kafka/state/", kafka_views.kafka_state, name="kafka-state"),
    path("sources/<int:source_id>/kafka/save/", kafka_views.kafka_save, name="kafka-save"),
    path("sources/<int:source_id>/kafka/delete/", kafka_views.kafka_delete, name="kafka-delete"),
    path("imports/<int:batch_id>/", sources.batch_detail, name="batch-detail"),
    path("imports/<int:batch_id>/progress/", sources.batch_progress, name="batch-progress"),
    path("imports/<int:batch_id>/rejected.csv", sources.batch_rejected, name="batch-rejected"),
    path("imports/<int:batch_id>/rollback/", sources.batch_rollback, name="batch-rollback"),
    # customer profiles
    path("customers/", profiles.search, name="profile-search"),
    path("customers/typeahead/", profiles.typeahead, name="profile-typeahead"),
    path("customers/lookup/", profiles.lookup, name="profile-lookup"),
    path("customers/<str:person_id>/", profiles.detail, name="profile-detail"),
    path("customers/<str:person_id>/timeline/", profiles.timeline, name="profile-timeline"),
    # analysis history
    path("analyses/", analyses.run_list, name="analysis-list"),
    path("analyses/compare/", analyses.run_compare, name="analysis-compare"),
    path("analyses/<int:run_id>/", analyses.run_detail, name="analysis-detail"),
    path("analyses/<int:run_id>/progress/", analyses.run_progress, name="analysis-progress"),
    path("analyses/<int:run_id>/rename/", analyses.run_rename, name="analysis-rename"),
    path("analyses/<int:run_id>/cancel/", analyses.run_cancel, name="analysis-cancel"),
    path("analyses/<int:run_id>/delete/", analyses.run_delete, name="analysis-delete"),
    # journey analytics
    path("journeys/", journeys.new_analysis, name="journey-new"),
    path("journeys/runs/<int:run_id>/", journeys.run_page, name="journey-run"),
    path("journeys/map/", journeys.live_map, name="journey-map"),
    path("journeys/map/draw/", journeys.map_draw, name="journey-map-draw"),
    path("journeys/cases/", journeys.cases_panel, name="journey-cases"),
    path("journeys/variants/", journeys.variants_panel, name="journey-variants"),
    path("journeys/models/", journeys.models, name="journey-models"),
    path("journeys/models/start/", journeys.models_start, name="journey-models-start"),
    path("journeys/export/<str:name>", journeys.export, name="journey-export"),
    # column mappings
    path("mappings/", sources.mapping_list, name="mapping-list"),
    path("mappings/<int:mapping_id>/", sources.mapping_detail, name="mapping-detail"),
]
