import pytest

from accounts.models import User
from accounts.tests.conftest import login
from accounts.tests.factories import UserFactory
from conftest import ApiClient
from plans.models import Plan


def client_for(user: User) -> ApiClient:
    client = ApiClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login(client, str(user.phone))['access']}")
    return client


@pytest.fixture
def customer_client(db) -> ApiClient:
    return client_for(UserFactory())


@pytest.fixture
def superuser_client(db) -> ApiClient:
    return client_for(UserFactory(is_superuser=True, is_staff=True))


@pytest.fixture
def plan(db) -> Plan:
    return Plan.objects.create(name="Globalnet Bronze", amount="500.00")
