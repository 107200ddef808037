"""The book builds strictly (warnings are errors) from the committed notebooks, with its launch buttons."""

import pytest

REPO_URL = "https://github.com/fer-edu/fer-edu"


@pytest.mark.slow
def test_book_builds_without_warnings(book_build):
    assert book_build.returncode == 0, book_build.log
    assert (book_build.html / "index.html").exists()


@pytest.mark.slow
def test_notebook_pages_link_to_colab_binder_and_the_repository(book_build):
    page = (book_build.html / "notebooks" / "02_vgg19.html").read_text()
    notebook = "fer-edu/fer-edu/blob/main/notebooks/02_vgg19.ipynb"
    assert f'href="https://colab.research.google.com/github/{notebook}"' in page
    assert 'href="https://mybinder.org/v2/gh/fer-edu/fer-edu/main?urlpath=tree/notebooks/02_vgg19.ipynb"' in page
    assert f'href="{REPO_URL}"' in page and f'href="{REPO_URL}/issues/new?' in page
