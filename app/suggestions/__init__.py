"""Related products: co-purchase statistics kept current as purchases are recorded, and the
suggestions and related products ranked from them."""
