"""The API's routes, one module per resource; each builds an APIRouter over the shared ApiContext."""
