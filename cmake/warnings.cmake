# Warnings on for our own code (not for the dependencies' headers, which are system includes).
add_compile_options(-Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
