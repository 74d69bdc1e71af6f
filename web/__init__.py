"""The browser pages (templates/, static/) and the scripts that show them: screenshots, a throwaway local stack."""
