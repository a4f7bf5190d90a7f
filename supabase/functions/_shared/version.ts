// The API's version: the `SalesOS-Version` header of every answer and `info.version` of both
// OpenAPI documents. Semantic versioning; CHANGELOG.md says what each version changed.
export const apiVersion = "1.1.0";
